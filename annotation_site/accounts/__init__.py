"""Who may sign in and with what: the lockout of repeated failed logins (django-axes) and the
API tokens scripts hold (django-rest-knox's hashed tokens), with their admin and their
revocation on logout, password change and deactivation."""
