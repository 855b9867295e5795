"""The live Keras adapter: the CurveWatch callback, its on-device tap, state and warnings."""
