package catalog

import (
	"context"
	"fmt"
	"strings"
)

// demoItem is one product of the demo catalog.
type demoItem struct {
	name, description string
	price, compareAt  string // compareAt "" when not on sale
	tags              []string
	stock, threshold  int
	featured          bool
}

// demoCategory is a category of the demo catalog with its sku prefix.
type demoCategory struct {
	name, skuPrefix string
	weightGrams     int
	taxClass        string // "" the standard class
	items           []demoItem
}

// SeedDemo fills an empty catalog with the demo products of `make run`: 66
// products in six categories, some on sale, some featured, several below
// their low-stock threshold and a few sold out. It does nothing when any
// product exists, and is deterministic. It returns how many products it
// created, and the first error of Create otherwise.
func (s *Service) SeedDemo(ctx context.Context) (int, error) {
	exists, err := anyProduct(ctx, s.db.Bun)
	if err != nil {
		return 0, fmt.Errorf("seed demo catalog: %w", err)
	}
	if exists {
		return 0, nil
	}
	created := 0
	for _, c := range demoCatalog() {
		for i, it := range c.items {
			if _, err := s.Create(ctx, c.input(i, it)); err != nil {
				return created, fmt.Errorf("seed demo product %q: %w", it.name, err)
			}
			created++
		}
	}
	return created, nil
}

func (c demoCategory) input(i int, it demoItem) CreateInput {
	sku := fmt.Sprintf("%s-%03d", c.skuPrefix, i+1)
	in := CreateInput{
		Name:        it.name,
		Description: &it.description,
		Category:    &c.name,
		Tags:        it.tags,
		IsFeatured:  &it.featured,
	}
	if c.taxClass != "" {
		in.TaxClass = &c.taxClass
	}
	var compareAt *string
	if it.compareAt != "" {
		compareAt = &it.compareAt
	}
	options := demoOptions[it.name]
	if options == nil {
		in.SKU, in.Price, in.CompareAtPrice = &sku, &it.price, compareAt
		in.InventoryQuantity, in.LowStockThreshold, in.WeightGrams = &it.stock, &it.threshold, &c.weightGrams
		return in
	}
	// One variant per combination of the options' values, the item's
	// stock spread over them (the first ones get the remainder).
	in.Options = options
	combos := [][]SelectedOption{{}}
	for _, o := range options {
		var next [][]SelectedOption
		for _, combo := range combos {
			for _, v := range o.Values {
				next = append(next, append(append([]SelectedOption{}, combo...), SelectedOption{Name: o.Name, Value: v}))
			}
		}
		combos = next
	}
	threshold := max(1, it.threshold/len(combos))
	for n, combo := range combos {
		vsku := sku
		for _, so := range combo {
			vsku += "-" + strings.ToUpper(strings.ReplaceAll(so.Value, " ", ""))
		}
		stock := it.stock / len(combos)
		if n < it.stock%len(combos) {
			stock++
		}
		in.Variants = append(in.Variants, VariantInput{SKU: vsku, SelectedOptions: combo, Price: it.price,
			CompareAtPrice: compareAt, InventoryQuantity: &stock, LowStockThreshold: &threshold,
			WeightGrams: &c.weightGrams})
	}
	return in
}

// demoOptions turns some demo products into products with variants, so
// that a newcomer sees options, variants and facets in Playground.
var demoOptions = map[string][]OptionInput{
	"Organic Cotton Crew T-Shirt": {
		{Name: "Color", Values: []string{"White", "Black", "Navy"}},
		{Name: "Size", Values: []string{"S", "M", "L", "XL"}},
	},
	"Merino Wool Sweater": {
		{Name: "Color", Values: []string{"Grey", "Navy"}},
		{Name: "Size", Values: []string{"S", "M", "L"}},
	},
	"Leather Everyday Sneakers": {
		{Name: "Size", Values: []string{"40", "41", "42", "43", "44", "45"}},
	},
	"Yoga Mat 6 mm": {
		{Name: "Color", Values: []string{"Sage", "Black", "Blue"}},
	},
}

// demoCatalog returns the demo products; stock below threshold on purpose
// for some, so that lowStockProducts and alerts have something to show.
func demoCatalog() []demoCategory {
	return []demoCategory{
		{name: "Electronics", skuPrefix: "ELEC", weightGrams: 450, items: []demoItem{
			{"Aurora Wireless Headphones", "Over-ear Bluetooth headphones with active noise cancelling and 30-hour battery life.", "149.99", "199.99", []string{"audio", "wireless", "bestseller"}, 42, 10, true},
			{"Pulse True Wireless Earbuds", "Compact earbuds with a pocket charging case, IPX4 sweat resistance and touch controls.", "79.00", "", []string{"audio", "wireless"}, 120, 20, false},
			{"Nimbus Smart Speaker", "Room-filling sound with a built-in voice assistant and multi-room pairing.", "99.00", "129.00", []string{"audio", "smart-home"}, 8, 10, true},
			{"Volt 20000 mAh Power Bank", "USB-C power delivery at 65 W, charges a laptop and a phone at once.", "49.50", "", []string{"charging", "travel"}, 64, 15, false},
			{"Lumen 4K Streaming Stick", "Streams 4K HDR with Dolby Vision; voice remote included.", "59.99", "", []string{"video", "smart-home"}, 3, 10, false},
			{"Orbit Mechanical Keyboard", "Hot-swappable switches, PBT keycaps and per-key RGB lighting.", "129.00", "", []string{"computing", "gaming"}, 27, 5, false},
			{"Glide Wireless Mouse", "Ergonomic mouse with silent clicks and an 18-month battery.", "34.99", "", []string{"computing", "wireless"}, 88, 15, false},
			{"Vista 27-inch QHD Monitor", "IPS panel at 165 Hz with USB-C and a height-adjustable stand.", "329.00", "379.00", []string{"computing", "display"}, 11, 5, true},
			{"Snap Action Camera", "Waterproof 5K action camera with horizon levelling.", "249.00", "", []string{"camera", "outdoor"}, 0, 5, false},
			{"Beam Smart LED Bulb (4-pack)", "Dimmable colour bulbs controlled from your phone, no hub needed.", "39.99", "", []string{"smart-home", "lighting"}, 150, 25, false},
			{"Tempo Fitness Watch", "GPS running watch with heart-rate tracking and a week of battery.", "199.00", "229.00", []string{"wearable", "fitness"}, 6, 8, false},
		}},
		{name: "Home & Kitchen", skuPrefix: "HOME", weightGrams: 1200, items: []demoItem{
			{"Cast Iron Skillet 12-inch", "Pre-seasoned cast iron that goes from stovetop to oven to campfire.", "39.00", "", []string{"cookware", "bestseller"}, 55, 10, true},
			{"Ceramic Pour-Over Coffee Set", "Dripper, carafe and two mugs in matte stoneware.", "54.00", "", []string{"coffee", "gift"}, 18, 5, false},
			{"Chef's Knife 8-inch", "High-carbon stainless steel blade with a full-tang walnut handle.", "89.00", "110.00", []string{"cutlery"}, 23, 5, false},
			{"Linen Duvet Cover, Queen", "Stonewashed French linen that softens with every wash.", "169.00", "", []string{"bedding", "linen"}, 9, 10, false},
			{"Bamboo Cutting Board Set", "Three nesting boards with juice grooves.", "29.99", "", []string{"kitchen", "eco"}, 74, 15, false},
			{"Electric Gooseneck Kettle", "Variable temperature control to the degree, with a 60-minute hold.", "79.00", "", []string{"coffee", "appliance"}, 31, 8, false},
			{"Glass Food Storage Set (10 pieces)", "Oven-safe borosilicate containers with snap-lock lids.", "44.00", "52.00", []string{"storage", "kitchen"}, 40, 10, false},
			{"Wool Throw Blanket", "Woven merino throw in heather grey, 130 × 180 cm.", "95.00", "", []string{"living-room", "wool"}, 4, 6, true},
			{"Stoneware Dinner Plates (set of 4)", "Reactive glaze plates, dishwasher and microwave safe.", "48.00", "", []string{"tableware"}, 36, 8, false},
			{"Aromatherapy Diffuser", "Ultrasonic diffuser with a warm light and an auto-off timer.", "35.00", "", []string{"wellness", "living-room"}, 0, 5, false},
			{"Stainless Steel Water Bottle", "Double-wall insulated, keeps drinks cold for 24 hours.", "27.50", "", []string{"drinkware", "eco"}, 200, 30, false},
		}},
		{name: "Apparel", skuPrefix: "APP", weightGrams: 300, items: []demoItem{
			{"Organic Cotton Crew T-Shirt", "Heavyweight 220 gsm organic cotton tee in a relaxed fit.", "28.00", "", []string{"tops", "organic", "bestseller"}, 240, 40, true},
			{"Merino Wool Sweater", "Fine-gauge merino crewneck that stays warm without the bulk.", "98.00", "125.00", []string{"tops", "wool"}, 33, 10, false},
			{"Selvedge Denim Jeans", "Raw 14 oz selvedge denim in a straight leg.", "145.00", "", []string{"bottoms", "denim"}, 12, 10, false},
			{"Waterproof Rain Jacket", "Seam-sealed 2.5-layer shell that packs into its own pocket.", "129.00", "159.00", []string{"outerwear", "waterproof"}, 7, 10, true},
			{"Everyday Chino Shorts", "Stretch cotton twill with a 7-inch inseam.", "45.00", "", []string{"bottoms", "summer"}, 58, 10, false},
			{"Quilted Puffer Vest", "Recycled synthetic insulation for layering on cold mornings.", "85.00", "", []string{"outerwear", "recycled"}, 21, 5, false},
			{"Linen Button-Down Shirt", "Breathable linen shirt with mother-of-pearl buttons.", "68.00", "", []string{"tops", "linen", "summer"}, 2, 8, false},
			{"Leather Everyday Sneakers", "Minimal full-grain leather sneakers with a cushioned footbed.", "120.00", "", []string{"footwear", "leather"}, 26, 6, false},
			{"Cashmere Beanie", "Ribbed pure cashmere hat, one size.", "55.00", "", []string{"accessories", "winter"}, 0, 5, false},
			{"Canvas Weekender Bag", "Waxed canvas holdall with leather handles and a shoe pocket.", "110.00", "135.00", []string{"bags", "travel"}, 14, 5, false},
			{"Performance Running Socks (3-pack)", "Cushioned, moisture-wicking socks with arch support.", "18.00", "", []string{"accessories", "running"}, 310, 50, false},
		}},
		{name: "Books", skuPrefix: "BOOK", weightGrams: 500, taxClass: "reduced", items: []demoItem{
			{"The Pragmatic Kitchen", "Weeknight cooking that respects your time: 120 recipes in 30 minutes or less.", "32.00", "", []string{"cooking", "hardcover"}, 46, 10, false},
			{"Designing Data-Intensive Systems", "A field guide to the ideas behind reliable, scalable and maintainable software.", "54.99", "", []string{"technology", "bestseller"}, 19, 8, true},
			{"Trails of the Northern Ridge", "A hiker's guide to fifty day walks, with maps and elevation profiles.", "24.95", "", []string{"travel", "outdoor"}, 5, 6, false},
			{"The Quiet Orchard", "A novel of three generations and one stubborn apple tree.", "17.99", "22.00", []string{"fiction", "paperback"}, 73, 10, false},
			{"Small Spaces, Big Ideas", "Interior design for apartments under 60 square metres.", "39.00", "", []string{"design", "home"}, 12, 5, false},
			{"Learning Go, Second Edition", "An idiomatic approach to real-world Go programming.", "49.99", "", []string{"technology", "programming"}, 28, 6, false},
			{"Midnight at the Observatory", "A mystery set among astronomers on a remote mountain.", "15.99", "", []string{"fiction", "mystery"}, 0, 5, false},
			{"The Art of Sourdough", "From starter to loaf: techniques for the home baker.", "29.00", "", []string{"cooking", "baking"}, 3, 5, false},
			{"Strength After Forty", "A sensible training plan for the second half of life.", "21.50", "", []string{"fitness", "health"}, 37, 8, false},
			{"A Brief Atlas of the Oceans", "Illustrated maps of currents, trenches and the life within them.", "45.00", "55.00", []string{"science", "gift"}, 16, 5, true},
			{"Children's Book of Constellations", "Star charts and myths for young stargazers, ages 6–10.", "14.99", "", []string{"children", "science"}, 52, 10, false},
		}},
		{name: "Sports & Outdoors", skuPrefix: "SPRT", weightGrams: 900, items: []demoItem{
			{"Ultralight Camping Tent (2-person)", "Freestanding tent at 1.4 kg with a full-coverage rain fly.", "279.00", "329.00", []string{"camping", "ultralight"}, 9, 5, true},
			{"Trekking Poles (pair)", "Carbon fibre poles with cork grips and flick locks.", "89.00", "", []string{"hiking"}, 34, 8, false},
			{"Yoga Mat 6 mm", "Non-slip natural rubber mat with alignment lines.", "59.00", "", []string{"yoga", "fitness", "bestseller"}, 81, 15, false},
			{"Adjustable Dumbbells (pair)", "Dial from 2.5 to 24 kg per hand in seconds.", "349.00", "", []string{"fitness", "strength"}, 4, 4, false},
			{"Insulated Sleeping Bag, -5 °C", "Synthetic fill mummy bag with a draft collar.", "149.00", "", []string{"camping"}, 13, 5, false},
			{"Road Cycling Helmet", "MIPS-equipped helmet with 18 vents, size M.", "119.00", "", []string{"cycling", "safety"}, 0, 5, false},
			{"Hydration Running Vest", "5-litre vest with two soft flasks and a phone pocket.", "95.00", "110.00", []string{"running", "hydration"}, 22, 6, false},
			{"Resistance Band Set", "Five latex-free bands with handles, ankle straps and a door anchor.", "29.00", "", []string{"fitness"}, 140, 20, false},
			{"Camping Stove Kit", "Compact gas stove with a 1-litre pot and windscreen.", "69.00", "", []string{"camping", "cooking"}, 2, 5, false},
			{"Headlamp 400 Lumen", "Rechargeable headlamp with red night mode.", "39.00", "", []string{"camping", "hiking"}, 67, 10, false},
			{"Pickleball Paddle Set", "Two graphite paddles, four balls and a carry bag.", "79.99", "", []string{"racket-sports"}, 29, 6, true},
		}},
		{name: "Beauty", skuPrefix: "BEAU", weightGrams: 150, items: []demoItem{
			{"Hydrating Face Serum", "Hyaluronic acid and niacinamide serum for all skin types, 30 ml.", "32.00", "", []string{"skincare", "bestseller"}, 95, 15, true},
			{"Mineral Sunscreen SPF 50", "Reef-friendly zinc sunscreen with no white cast, 50 ml.", "24.00", "", []string{"skincare", "sun"}, 7, 12, false},
			{"Gentle Foaming Cleanser", "Low-pH cleanser with green tea extract, 150 ml.", "18.50", "", []string{"skincare"}, 60, 10, false},
			{"Argan Oil Hair Treatment", "Cold-pressed argan oil to tame frizz and add shine, 100 ml.", "28.00", "34.00", []string{"haircare"}, 25, 8, false},
			{"Vitamin C Brightening Cream", "Stable vitamin C moisturiser for a more even tone, 50 ml.", "38.00", "", []string{"skincare"}, 1, 6, false},
			{"Matte Lipstick, Rosewood", "Long-wearing, comfortable matte finish.", "19.00", "", []string{"makeup", "lips"}, 48, 10, false},
			{"Volumising Mascara", "Buildable volume without clumps; washes off with warm water.", "22.00", "", []string{"makeup", "eyes"}, 0, 8, false},
			{"Shea Butter Hand Cream", "Rich hand cream with 20 % shea butter, 75 ml.", "12.00", "", []string{"bodycare", "gift"}, 130, 20, false},
			{"Bamboo Hair Brush", "Paddle brush with bamboo pins that detangle gently.", "16.00", "", []string{"haircare", "eco"}, 44, 8, false},
			{"Eau de Parfum, Cedar & Fig", "Warm woody fragrance with notes of fig leaf and cedar, 50 ml.", "85.00", "98.00", []string{"fragrance", "gift"}, 10, 4, true},
			{"Overnight Lip Mask", "Berry-scented balm that repairs dry lips while you sleep.", "15.00", "", []string{"skincare", "lips"}, 83, 12, false},
		}},
	}
}
