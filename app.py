"""FME Studio app (Streamlit). Run with `streamlit run app.py`."""
