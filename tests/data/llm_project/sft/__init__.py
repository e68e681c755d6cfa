"""A tiny supervised fine-tuning project for a support assistant."""
