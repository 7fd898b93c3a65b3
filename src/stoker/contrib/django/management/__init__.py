"""Django management commands of stoker.contrib.django."""
