"""The math of one artificial neuron, in numpy only."""
