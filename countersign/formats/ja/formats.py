# One way per length on every Japanese page: 2026/12/04 19:05 (lists, tables) and
# 2026年12月4日 19:05 (where a page names one moment); hours always with two digits.
DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 H:i"
SHORT_DATE_FORMAT = "Y/m/d"
SHORT_DATETIME_FORMAT = "Y/m/d H:i"
TIME_FORMAT = "H:i"
