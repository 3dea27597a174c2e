# PHZ mode: the classic design. One private hosted zone per hostname, associated with the
# app VPC, holding an alias to the endpoint's regional DNS name (AAAA too when dual-stack).

locals {
  phz_services = var.dns_mode == "phz" ? local.peering_services : {}
  phz_hostnames = {
    for k, v in local.phz_services : k => coalesce(v.private_dns_name, "${k}.${var.endpoint_region}.amazonaws.com")
  }
}

resource "aws_route53_zone" "phz" {
  for_each = local.phz_hostnames
  provider = aws.app

  name    = each.value
  comment = "${var.name}: ${each.key} in ${var.endpoint_region} through the peering"
  tags    = merge(local.tags, { Name = each.value })

  vpc {
    vpc_id     = local.app_vpc_id
    vpc_region = var.app_region
  }
}

# The regional name, never a zonal one (that would send every client to one zone) nor the
# endpoint's private DNS name (which answers only inside the endpoint VPC). Alias records to
# an interface endpoint have no target health to evaluate: every ENI address is returned.
resource "aws_route53_record" "phz_a" {
  for_each = local.phz_hostnames
  provider = aws.app

  zone_id = aws_route53_zone.phz[each.key].zone_id
  name    = each.value
  type    = "A"

  alias {
    name                   = local.regional_dns[each.key].dns_name
    zone_id                = local.regional_dns[each.key].hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "phz_aaaa" {
  for_each = { for k, v in local.phz_hostnames : k => v if local.phz_services[k].ip_address_type == "dualstack" }
  provider = aws.app

  zone_id = aws_route53_zone.phz[each.key].zone_id
  name    = each.value
  type    = "AAAA"

  alias {
    name                   = local.regional_dns[each.key].dns_name
    zone_id                = local.regional_dns[each.key].hosted_zone_id
    evaluate_target_health = false
  }
}
