"""The Streamlit dashboard: `midi-rae app` or `streamlit run app/main.py`.

page.main lays out the page; sidebar sections return their parameters; sources and loaders are cached
computations (no widgets, no reruns inside them); session owns every session-state key; one module per panel.
"""
