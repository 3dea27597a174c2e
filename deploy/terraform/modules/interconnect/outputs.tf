output "app_vpc_id" {
  description = "The app VPC."
  value       = local.app_vpc_id
}

output "app_vpc_cidr" {
  description = "Primary CIDR of the app VPC."
  value       = local.app_vpc_cidrs[0]
}

output "app_vpc_cidrs" {
  description = "Every IPv4 CIDR of the app VPC (the endpoint VPC routes all of them back)."
  value       = local.app_vpc_cidrs
}

output "app_subnet_ids" {
  description = "Private subnets created in the app VPC, in the order of app_private_subnet_cidrs (empty for an existing VPC)."
  value       = var.create_app_vpc ? [for s in module.app_vpc[0].subnets : s.id] : []
}

output "app_route_table_ids" {
  description = "App route tables that route to the endpoint VPC."
  value       = values(local.app_route_tables)
}

output "nat_gateway_ids" {
  description = "NAT gateways of the app VPC, by zone (app_nat_gateway)."
  value       = { for az, n in aws_nat_gateway.app : az => n.id }
}

output "endpoint_vpc_id" {
  description = "The endpoint VPC."
  value       = local.endpoint_vpc_id
}

output "endpoint_vpc_cidr" {
  description = "Primary CIDR of the endpoint VPC."
  value       = local.endpoint_vpc_cidrs[0]
}

output "endpoint_vpc_cidrs" {
  description = "Every IPv4 CIDR of the endpoint VPC (a joining deployment in the same run takes them as its endpoint_vpc_cidrs)."
  value       = local.endpoint_vpc_cidrs
}

output "endpoint_route_table_ids" {
  description = "Endpoint-VPC route tables that route back to this app VPC (a joining deployment takes them as its endpoint_route_table_ids)."
  value       = values(local.endpoint_route_tables)
}

output "endpoint_region" {
  description = "Region of the endpoint VPC."
  value       = var.endpoint_region
}

output "endpoint_account_id" {
  description = "The account of the endpoint VPC (the endpoint provider's caller identity), which the peering names as its peer owner."
  value       = data.aws_caller_identity.endpoint.account_id
}

output "peering_connection_id" {
  description = "The cross-region VPC peering connection (null with connectivity = \"transit_gateway\")."
  value       = one(aws_vpc_peering_connection.this[*].id)
}

output "endpoint_security_group_id" {
  description = "Security group of the interface endpoints (443 from app_allowed_cidrs): created here, or the one given when joining. A second deployment joining these endpoints takes it as its endpoint_security_group_id."
  value       = local.endpoint_security_group_id
}

output "endpoint_ids" {
  description = "Interface endpoint id per service in the endpoint VPC (created, or joined)."
  value       = { for k, e in local.interface_endpoints : k => e.id }
}

output "endpoint_network_interface_ids" {
  description = "ENI ids per service (their IPs are what bedrock-link serves)."
  value       = { for k, e in local.interface_endpoints : k => e.network_interface_ids }
}

output "endpoint_dns_entries" {
  description = "Every DNS entry (name and hosted zone id) per service: regional, zonal and private."
  value       = { for k, e in local.interface_endpoints : k => e.dns_entry }
}

output "endpoint_regional_dns_names" {
  description = "The regional DNS name per service (what PHZ mode aliases to)."
  value       = { for k, d in local.regional_dns : k => try(d.dns_name, null) }
}

output "discovery_endpoint_url" {
  description = "URL of the ec2 interface endpoint in the endpoint VPC for bedrock-link's discovery (null when discovery_endpoint is off or in PHZ mode)."
  value       = local.discovery_endpoint_url
}

output "hosted_zone_ids" {
  description = "Private hosted zone id per service (PHZ mode only)."
  value       = { for k, z in aws_route53_zone.phz : k => z.zone_id }
}

output "app_interface_endpoint_ids" {
  description = "Interface endpoint id per app-region service in the app VPC."
  value       = { for k, e in aws_vpc_endpoint.app_interface : k => e.id }
}

output "cross_region_endpoint_ids" {
  description = "Interface endpoint id per cross_region_endpoint service, in the app VPC (service_region = endpoint_region)."
  value       = { for k, e in aws_vpc_endpoint.cross_region : k => e.id }
}

output "discovery_role_arn" {
  description = "The role in the endpoint account that discovery assumes (discovery_role), or null."
  value       = one(aws_iam_role.discovery[*].arn)
}

output "app_gateway_endpoint_ids" {
  description = "Gateway endpoint id per service in the app VPC."
  value       = { for k, e in aws_vpc_endpoint.app_gateway : k => e.id }
}

output "resolver_source" {
  description = "A ready-made [[source]] block for bedrock-link's configuration."
  value = join("\n", concat(
    [
      "[[source]]",
      "region = \"${var.endpoint_region}\"",
      "vpc_id = \"${local.endpoint_vpc_id}\"",
      "services = [${join(", ", [for k in sort(keys(local.peering_services)) : "\"${k}\""])}]",
    ],
    local.discovery_endpoint_url == null ? [] : ["endpoint_url = \"${local.discovery_endpoint_url}\""],
    var.discovery_role == null ? [] : ["role_arn = \"${aws_iam_role.discovery[0].arn}\""],
    try(var.discovery_role.external_id, null) == null ? [] : ["external_id = \"${var.discovery_role.external_id}\""],
    [""],
  ))
}

output "resolver_source_object" {
  description = "The same source as an object, for the resolver module's sources variable."
  value = {
    region         = var.endpoint_region
    vpc_id         = local.endpoint_vpc_id
    services       = sort(keys(local.peering_services))
    endpoint_url   = local.discovery_endpoint_url
    endpoint_cidrs = local.endpoint_vpc_cidrs
    role_arn       = one(aws_iam_role.discovery[*].arn)
    external_id    = try(var.discovery_role.external_id, null)
  }
}
