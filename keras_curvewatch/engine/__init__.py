"""The diagnosis engine: statistics, rules, findings, reports. Imports neither keras, render nor live."""
