"""Product templates the sample catalog draws SKUs from, with real HS 2022 subheadings.

Each template is a kind of product a China-based cross-border seller typically lists, with the
HS subheading customs would use (present both in the bundled HS 2022 list and in the UK tariff
file, so duty lookups work), whether it runs on mains power, a typical weight, packed
dimensions and a purchase-cost range in CNY. Steel and aluminium articles of headings 7318,
7326 and 7616 are included on purpose: they fall under the EU CBAM.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Share of SKUs per category in the catalog.
CATEGORY_WEIGHTS: dict[str, float] = {
    "electronics": 0.18,
    "home_kitchen": 0.16,
    "apparel": 0.14,
    "beauty": 0.10,
    "toys": 0.09,
    "sports": 0.09,
    "tools": 0.08,
    "pet": 0.06,
    "auto_parts": 0.06,
    "furniture": 0.04,
}


@dataclass(frozen=True)
class ProductTemplate:
    category: str
    noun: str
    hs6: str
    # 'mains' (110V or 220V build, sometimes universal), 'universal' (100-240V), 'none' (no mains power)
    power: str
    battery: bool
    weight_kg: float
    dims_cm: tuple[float, float, float]
    cost_cny: tuple[float, float]
    # the product needs assembly or installation (instructions can become a pain point)
    assembly: bool = False


_T = ProductTemplate
TEMPLATES: tuple[ProductTemplate, ...] = (
    # electronics
    _T("electronics", "Wireless Earbuds", "851830", "none", True, 0.08, (10, 8, 4), (35, 160)),
    _T("electronics", "Bluetooth Speaker", "851822", "none", True, 0.6, (20, 9, 9), (60, 260)),
    _T("electronics", "USB-C Fast Charger 65W", "850440", "universal", False, 0.15, (8, 6, 4), (25, 90)),
    _T("electronics", "Power Bank 20000mAh", "850760", "none", True, 0.42, (15, 7, 3), (50, 150)),
    _T("electronics", "Mechanical Keyboard", "847160", "none", False, 0.9, (45, 15, 5), (80, 320)),
    _T("electronics", "Portable Monitor 15.6in", "852852", "universal", False, 1.1, (40, 27, 4), (380, 900)),
    _T("electronics", "LED Camping Lantern", "851310", "none", True, 0.35, (12, 12, 20), (25, 80)),
    _T("electronics", "Smart Watch", "851762", "none", True, 0.1, (10, 8, 6), (80, 320)),
    _T("electronics", "Desk Lamp with Wireless Charger", "850440", "mains", False, 1.3, (40, 18, 12), (70, 200), True),
    # home and kitchen
    _T("home_kitchen", "Drip Coffee Maker", "851671", "mains", False, 2.4, (30, 22, 35), (110, 380)),
    _T("home_kitchen", "Air Fryer 5L", "851660", "mains", False, 5.2, (35, 32, 36), (170, 450)),
    _T("home_kitchen", "High-Speed Blender", "850940", "mains", False, 3.1, (22, 22, 45), (100, 360), True),
    _T("home_kitchen", "Electric Kettle", "851679", "mains", False, 1.2, (23, 17, 25), (45, 150)),
    _T("home_kitchen", "Ceramic Space Heater", "851629", "mains", False, 2.8, (30, 22, 40), (90, 260)),
    _T("home_kitchen", "Stainless Steel Cookware Set", "732393", "none", False, 4.5, (50, 30, 25), (120, 420)),
    _T("home_kitchen", "Aluminium Frying Pan", "761510", "none", False, 1.1, (50, 29, 8), (40, 120)),
    _T("home_kitchen", "Food Storage Containers", "392410", "none", False, 0.9, (30, 22, 18), (20, 60)),
    _T("home_kitchen", "Porcelain Dinner Set", "691110", "none", False, 6.5, (40, 35, 25), (100, 300)),
    _T("home_kitchen", "Cotton Bed Sheet Set", "630221", "none", False, 1.5, (35, 28, 8), (60, 200)),
    _T("home_kitchen", "Steel Wall Shelf Brackets", "732690", "none", False, 1.2, (25, 20, 6), (15, 50), True),
    # apparel
    _T("apparel", "Cotton T-Shirt", "610910", "none", False, 0.2, (30, 25, 2), (14, 40)),
    _T("apparel", "Knit Cardigan", "611020", "none", False, 0.5, (35, 30, 5), (40, 120)),
    _T("apparel", "Fleece Pullover", "611030", "none", False, 0.45, (35, 30, 6), (35, 100)),
    _T("apparel", "Summer Dress", "610443", "none", False, 0.3, (32, 25, 3), (30, 90)),
    _T("apparel", "Cargo Trousers", "620342", "none", False, 0.55, (35, 28, 5), (40, 110)),
    _T("apparel", "Canvas Sneakers", "640419", "none", False, 0.9, (33, 22, 12), (40, 120)),
    _T("apparel", "Waterproof Rain Jacket", "621040", "none", False, 0.6, (35, 30, 6), (60, 180)),
    _T("apparel", "Travel Backpack", "420292", "none", False, 1.0, (45, 30, 15), (50, 160)),
    # beauty
    _T("beauty", "Vitamin C Serum", "330499", "none", False, 0.1, (12, 5, 5), (12, 50)),
    _T("beauty", "Ionic Hair Dryer", "851631", "mains", False, 0.7, (28, 24, 10), (80, 250)),
    _T("beauty", "Ceramic Hair Straightener", "851632", "mains", False, 0.45, (35, 10, 6), (50, 180)),
    _T("beauty", "Electric Shaver", "851010", "universal", True, 0.3, (18, 12, 7), (60, 200)),
    _T("beauty", "Makeup Brush Set", "960329", "none", False, 0.2, (22, 10, 5), (15, 50)),
    _T("beauty", "Argan Oil Shampoo", "330510", "none", False, 0.35, (20, 7, 7), (12, 40)),
    _T("beauty", "Gel Nail Polish Kit", "330430", "none", False, 0.3, (20, 15, 6), (25, 80)),
    # toys
    _T("toys", "Building Blocks Set", "950300", "none", False, 0.8, (30, 22, 8), (40, 150), True),
    _T("toys", "RC Stunt Car", "950300", "none", True, 0.7, (30, 20, 15), (60, 180)),
    _T("toys", "Plush Toy", "950300", "none", False, 0.3, (30, 20, 15), (15, 45)),
    _T("toys", "Handheld Game Console", "950450", "none", True, 0.35, (18, 12, 6), (90, 260)),
    _T("toys", "Christmas Ornament Set", "950510", "none", False, 0.5, (30, 25, 10), (20, 60)),
    # sports
    _T("sports", "Adjustable Dumbbells 24kg", "950691", "none", False, 24.0, (45, 25, 25), (250, 600), True),
    _T("sports", "Non-Slip Yoga Mat", "950691", "none", False, 1.2, (62, 15, 15), (30, 90)),
    _T("sports", "Inflatable Soccer Ball", "950662", "none", False, 0.45, (23, 23, 23), (20, 60)),
    _T("sports", "Running Shoes", "640411", "none", False, 0.8, (33, 22, 12), (60, 180)),
    _T("sports", "Fishing Tackle Kit", "950790", "none", False, 0.9, (30, 20, 8), (40, 120)),
    _T("sports", "Folding Bicycle", "871200", "none", False, 13.0, (85, 40, 65), (600, 1500), True),
    _T("sports", "Aluminium Carabiner Set", "761699", "none", False, 0.4, (15, 10, 5), (15, 45)),
    _T("sports", "Table Tennis Set", "950640", "none", False, 0.6, (30, 18, 5), (25, 70)),
    # tools
    _T("tools", "Cordless Drill Kit", "846721", "universal", True, 1.9, (35, 28, 10), (150, 420)),
    _T("tools", "Angle Grinder", "846729", "mains", False, 2.4, (35, 15, 12), (90, 260)),
    _T("tools", "Precision Screwdriver Set", "820540", "none", False, 0.6, (20, 12, 5), (20, 70)),
    _T("tools", "Hex Bolt and Nut Assortment", "731815", "none", False, 1.8, (25, 18, 6), (20, 60)),
    _T("tools", "Soldering Station", "851511", "mains", False, 1.6, (25, 20, 15), (90, 280), True),
    _T("tools", "Pruning Shears", "820150", "none", False, 0.3, (25, 8, 3), (15, 50)),
    # pet
    _T("pet", "Dog Harness and Leash", "420100", "none", False, 0.3, (25, 18, 5), (15, 50)),
    _T("pet", "Orthopedic Pet Bed", "940490", "none", False, 2.2, (80, 60, 20), (80, 220)),
    _T("pet", "Slow Feeder Bowl", "392490", "none", False, 0.35, (22, 22, 8), (10, 35)),
    _T("pet", "Automatic Pet Feeder", "850980", "mains", False, 1.8, (30, 25, 35), (110, 300), True),
    _T("pet", "Grain-Free Dog Treats", "230910", "none", False, 1.0, (25, 18, 8), (20, 60)),
    _T("pet", "Cat Tree Tower", "940360", "none", False, 9.0, (60, 45, 20), (120, 350), True),
    # auto parts
    _T("auto_parts", "LED Headlight Bulbs H7", "851220", "none", False, 0.3, (15, 10, 8), (40, 140), True),
    _T("auto_parts", "Ceramic Brake Pads", "870830", "none", False, 2.0, (20, 15, 8), (60, 180), True),
    _T("auto_parts", "Car Seat Organizer", "870899", "none", False, 0.7, (40, 30, 5), (25, 70)),
    _T("auto_parts", "Engine Wiring Harness", "854430", "none", False, 0.6, (30, 20, 8), (40, 150), True),
    _T("auto_parts", "Heated Windshield Defroster", "851240", "none", False, 0.8, (20, 15, 10), (35, 100), True),
    _T("auto_parts", "Motorcycle Phone Mount", "871410", "none", False, 0.25, (15, 10, 8), (20, 60), True),
    # furniture
    _T("furniture", "Ergonomic Office Chair", "940171", "none", False, 16.0, (70, 65, 35), (280, 900), True),
    _T("furniture", "Wooden Bookshelf", "940360", "none", False, 24.0, (90, 35, 12), (220, 650), True),
    _T("furniture", "Metal Bed Frame", "940320", "none", False, 28.0, (110, 40, 15), (250, 700), True),
    _T("furniture", "Memory Foam Mattress", "940421", "none", False, 22.0, (100, 45, 45), (400, 1200)),
    _T("furniture", "Upholstered Dining Chair", "940161", "none", False, 7.0, (55, 50, 30), (120, 380), True),
)

ADJECTIVES: tuple[str, ...] = (
    "Pro",
    "Ultra",
    "Compact",
    "Premium",
    "Classic",
    "Eco",
    "Max",
    "Lite",
    "Plus",
    "Smart",
    "Deluxe",
    "Essential",
    "Travel",
    "Home",
    "Studio",
    "Urban",
)


def templates_of(category: str) -> list[ProductTemplate]:
    return [t for t in TEMPLATES if t.category == category]


def catalog_hs6() -> list[str]:
    """Every HS subheading the sample catalog can use (sorted, distinct)."""
    return sorted({t.hs6 for t in TEMPLATES})
