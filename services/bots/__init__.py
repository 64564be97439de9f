"""What the meeting controller (in the API) and a meeting bot (anywhere) say to each other."""
