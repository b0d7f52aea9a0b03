"""Tests of ff_assets.spark."""
