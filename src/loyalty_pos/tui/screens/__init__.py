"""The app's screens: the checkout itself and the windows opened over it."""
