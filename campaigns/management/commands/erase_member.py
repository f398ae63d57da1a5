from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from campaigns import retention


class Command(BaseCommand):
    help = ("Erase one person's data everywhere (an erasure request): member rows, the "
            "address in every ledger row, uploads and caught mail; their address is then "
            "suppressed. Prints the deletion certificate, which an observer countersigns.")

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="the person's e-mail address")

    def handle(self, *args, email, **options):
        try:
            validate_email(email.strip())
        except ValidationError as error:
            raise CommandError(f"not an e-mail address: {email!r}") from error
        certificate = retention.erase_member(address=email.strip(), system="cli")
        self.stdout.write(retention.certificate_text(certificate))
