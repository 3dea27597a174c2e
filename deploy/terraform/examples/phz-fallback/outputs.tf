output "hosted_zone_ids" {
  description = "Private hosted zone per service."
  value       = module.interconnect.hosted_zone_ids
}
