"""embodied_r1 package."""
