"""marshmallow schemas: the Pulumi CLI's JSON shapes (camelCase) live here and only here."""
