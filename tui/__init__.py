"""Portside's dashboard and command line."""
