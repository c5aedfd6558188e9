"""Use cases. Stateless; they see only ports and domain types."""
