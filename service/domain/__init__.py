"""The pure domain of agegate: brackets, evidence, the feature policy and guardian consent.

Standard library only (a test walks the imports). Time is always a parameter; nothing
here reads the clock, the network or a database. Import from the submodules.
"""
