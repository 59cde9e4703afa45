"""What GET /api/capabilities advertises: only what the service implements and has tested, each
switchable by a setting."""


def advertised(config):
    capabilities = []
    if config.get("SECRETS_BATCH_ENCRYPT", True):
        # Any version: the CLI then sends state secrets in batch-encrypt calls of up to 1000.
        capabilities.append({"capability": "batch-encrypt"})
    if config.get("DELTA_CHECKPOINTS_ENABLED", True):
        # Version 2 is the only one the CLI honours. (Journaling has no capability: it is
        # negotiated per update in start-update.)
        capabilities.append({
            "capability": "delta-checkpoint-uploads-v2",
            "version": 2,
            "configuration": {
                "checkpointCutoffSizeBytes": config.get("DELTA_CHECKPOINT_CUTOFF_BYTES", 65536),
            },
        })
    if config.get("STACK_OUTPUTS_ENABLED", True):
        # GET /api/stacks/{org}/{project}/{stack}/outputs (app/routes/history.py); the CLI
        # honours version 1 only.
        capabilities.append({"capability": "stack-outputs", "version": 1})
    if config.get("BEGIN_UPDATE_ENABLED", True):
        # POST /api/stacks/{org}/{project}/{stack}/begin-update (app/routes/updates.py); the CLI
        # honours version 1 only (and PULUMI_DISABLE_BEGIN_UPDATE=true makes it ignore it).
        capabilities.append({"capability": "begin-update", "version": 1})
    return capabilities
