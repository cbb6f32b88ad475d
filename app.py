"""FME Studio app (Streamlit). Run with `fme study serve` or `streamlit run app.py`.

Three pages: volunteers vote on pairs (the default page), experts score videos (`/expert`),
and the admin creates studies, follows progress and reads results (`/admin`). The page
list is hidden from volunteers; the admin and expert pages are reached by their links.
"""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "study" / "pages"

st.set_page_config(page_title="FME Studio", layout="centered")
page = st.navigation(
    [
        st.Page(PAGES / "volunteer.py", title="Study", url_path="study", default=True),
        st.Page(PAGES / "expert.py", title="Expert scoring", url_path="expert"),
        st.Page(PAGES / "admin.py", title="Admin", url_path="admin"),
    ],
    position="hidden",
)
page.run()
