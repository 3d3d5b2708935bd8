"""The names both sides of the synthetic world draw people from: first and last names (unicode, apostrophes,
hyphens, several scripts) and the domains of their email addresses."""

FIRST_NAMES = (
    "James", "Mary", "Anna", "José", "Zoë", "Jürgen", "François", "Mei", "Wei", "李", "Aiko", "Olga",
    "Søren", "Chloé", "Mohammed", "Priya", "Noah", "Emma", "Liam", "Olivia", "Łukasz", "Inês", "Björn",
    "Siobhán", "Nguyễn", "Fatima", "Kenji", "Lars", "Sophie", "David", "Maria", "John", "Sarah", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Müller", "García", "O'Brien", "Nguyen", "王", "Kowalski", "Dubois", "Rossi", "Jensen",
    "D'Angelo", "Schmidt", "Johnson", "Tanaka", "Øvergård", "Brown", "Lee", "Patel", "Martínez",
    "van der Berg", "Smith-Jones", "Al-Sayed", "中村", "Williams", "Björk", "Ivanova", "Cohen", "Silva",
)  # fmt: skip
DOMAINS = (
    "example.com", "acme.example", "globex.example", "initech.example", "mail.example.org",
    "gmail.example", "outlook.example", "uni-bonn.example.de", "example.co.uk", "startup.example.io",
)  # fmt: skip
