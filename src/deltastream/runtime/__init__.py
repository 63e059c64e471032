"""The wiring at the top of the package: what assembles the layers below into running
processes. The recorder (engine to store), the publishing engine and the supervision of its
process (engine to bus), the app with its feed and store, and the gunicorn server.

Nothing below this package imports it; :mod:`deltastream.cli` is its only user.
"""
