"""Training pages, one module per page group: runs, models, generate, train, schedules, loop (project panel).

Thin views: check membership (404) and role (403), validate a form, call one service, render.
One rule for htmx (labeling.views._render): an htmx request that is not boosted gets the named
partial, anything else the whole page; every action also works as a plain form post.
"""
