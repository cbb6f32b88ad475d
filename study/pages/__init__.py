"""The app's pages (volunteer, expert, admin) and what they share; `app.py` runs them."""
