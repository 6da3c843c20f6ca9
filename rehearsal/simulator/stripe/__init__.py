"""The simulator's Stripe dialect, written from Stripe's documentation."""
