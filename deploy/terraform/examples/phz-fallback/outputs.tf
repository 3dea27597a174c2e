output "hosted_zone_ids" {
  description = "Private hosted zone per service."
  value       = module.interconnect.hosted_zone_ids
}

output "endpoint_regional_dns_names" {
  description = "The regional DNS name each zone's alias records point at."
  value       = module.interconnect.endpoint_regional_dns_names
}

output "endpoint_ids" {
  description = "Interface endpoint per service."
  value       = module.interconnect.endpoint_ids
}

output "endpoint_vpc_id" {
  description = "The endpoint VPC."
  value       = module.interconnect.endpoint_vpc_id
}
