"""Closing the loop: experiments (arms, assignment, reports) and online metrics from the event log."""
