"""`trunkgate demo`: the whole system on a throw-away example site."""
