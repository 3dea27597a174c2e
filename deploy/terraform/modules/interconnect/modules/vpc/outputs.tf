output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "subnets" {
  description = "The private subnets (id, availability_zone), in the order of subnet_cidrs."
  value = [for i in range(length(aws_subnet.this)) : {
    id                = aws_subnet.this[tostring(i)].id
    availability_zone = aws_subnet.this[tostring(i)].availability_zone
  }]
}

output "route_table_ids" {
  description = "Route table ids, by zone with route_tables = \"per_zone\", under the key \"all\" with \"one\"."
  value       = { for k, rt in aws_route_table.this : k => rt.id }
}

output "flow_log_group" {
  description = "The flow log group (arn, name, kms_key_id), or null without flow logs."
  value = one([for g in aws_cloudwatch_log_group.flow_logs : {
    arn        = g.arn
    name       = g.name
    kms_key_id = g.kms_key_id
  }])
}
