"""A side-by-side benchmark of the service, the plain Authlib recipe and a bare-302 ceiling (issue 7)."""
