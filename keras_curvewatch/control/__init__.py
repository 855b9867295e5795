"""Learning-rate control: a pure policy (`policy`) and how it is applied to an optimizer."""
