"""Tests for the ops part of the service."""
