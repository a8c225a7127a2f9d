"""Language side: lexicons, n-gram LMs and k2 graphs (HLG, LG, training graphs)."""
