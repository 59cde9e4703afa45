"""The API's blueprints, one module per resource. Each route is thin: parse (app/api.py), authorize
(declared with app/auth.py's decorators), call the domain (app/stacks.py, app/updates.py,
app/history.py, app/secrets.py), respond. Route modules never import each other."""
