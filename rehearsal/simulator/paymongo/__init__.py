"""The simulator's PayMongo dialect, written from PayMongo's documentation."""
