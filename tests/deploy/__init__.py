"""Tests for the deploy part of the service."""
