"""callback"""
