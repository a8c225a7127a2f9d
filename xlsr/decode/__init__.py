"""Decoding: CTC (greedy, HLG lattices), transducer and attention search."""
