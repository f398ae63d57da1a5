# English pages in a Japanese office: the year first (12/04/2026 reads as April there), and
# a 24-hour clock, as the Japanese pages have.
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
