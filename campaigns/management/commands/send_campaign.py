from django.core.management.base import BaseCommand, CommandError

from campaigns import sender
from campaigns.models import Campaign


class Command(BaseCommand):
    help = ("Run the sender for one campaign in the foreground until it leaves 'sending' "
            "(what the django-q2 task does slice by slice). For operations and drills.")

    def add_arguments(self, parser):
        parser.add_argument("campaign", type=int)

    def handle(self, *args, campaign, **options):
        if not Campaign.objects.filter(pk=campaign).exists():
            raise CommandError(f"no campaign {campaign}")
        while (outcome := sender.run(campaign)) is sender.Outcome.CONTINUE:
            pass
        state = Campaign.objects.values_list("state", flat=True).get(pk=campaign)
        self.stdout.write(f"campaign {campaign}: {outcome.value}; state {state}")
