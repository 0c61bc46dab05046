"""The web app: ``sub3 serve`` (FastAPI + uvicorn) and its one page.

:mod:`sub3coach.web.app` builds the app and its routes, :mod:`sub3coach.web.service` runs the
project's pipeline for them (readers, model, library, planner), :mod:`sub3coach.web.upload`
streams multipart uploads into a temporary folder under a size cap.
"""
