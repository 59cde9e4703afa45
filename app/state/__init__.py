"""A stack's state (the CLI's UntypedDeployment) as the service keeps and reads it, one module per
concern:

- `stored`:  the checkpoint row: opaque gzip-compressed text plus the few facts the service needs
- `scan`:    walking a JSON object without building a tree (large request bodies, stored states)
- `outputs`: the stack resource's outputs, read from as little of a stored state as possible
- `rename`:  rewriting a state's URNs for a renamed stack
- `delta`:   applying the CLI's text edits (delta checkpoints)
- `pending`: repairing the pending operations the CLI's delta serializer misplaces or drops
- `journal`: replaying journal entries onto a base state
"""

# The type of the root resource every program's state has, named "<project>-<stack>".
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def is_root_stack(resource):
    return (isinstance(resource, dict) and resource.get("type") == ROOT_STACK_TYPE
            and not resource.get("parent"))
