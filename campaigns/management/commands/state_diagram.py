from django.core.management.base import BaseCommand

from campaigns.states import state_diagram


class Command(BaseCommand):
    help = "Print the campaign state machine (campaigns.states.TRANSITIONS) as a Mermaid diagram."

    def handle(self, *args, **options):
        self.stdout.write(state_diagram())
