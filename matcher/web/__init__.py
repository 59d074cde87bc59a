"""``matcher serve``: a local web app to match a sound by ear (app, job queue, static page)."""
