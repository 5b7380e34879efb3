"""Tests for the store part of the service."""
