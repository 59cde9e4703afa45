"""What GET /api/capabilities advertises: only what the service implements and has tested, each
switchable by a setting."""


def advertised(config):
    return []
