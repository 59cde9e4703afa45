"""What GET /api/capabilities advertises: only what the service implements and has tested, each
switchable by a setting."""


def advertised(config):
    capabilities = []
    if config.get("SECRETS_BATCH_ENCRYPT", True):
        # Any version: the CLI then sends state secrets in batch-encrypt calls of up to 1000.
        capabilities.append({"capability": "batch-encrypt"})
    return capabilities
