"""``palette-kit serve``: a local web app to restore pictures (colour hints painted with a brush, before/after,
downloads with provenance) and the colorization Turing test, whose answers are kept in SQLite.

``command`` (the click command, light to import), ``app`` (the Starlette routes), ``form`` (the task's options as
a form), ``jobs`` (the queue and its worker thread), ``study`` (pairs and trials), ``store`` (SQLite) and
``static/`` (the page, hand-written: no framework, no CDN).
"""
